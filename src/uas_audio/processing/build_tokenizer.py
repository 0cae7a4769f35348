"""Build the embedded byte-level BPE tokenizer shipped in ``uas_audio/processing/tokenizer/``.

Run ``python -m uas_audio.processing.build_tokenizer`` to regenerate it. The training text is the project's own:
UAS keys, vocabularies and JSON records, the task prompts, QA phrasing, and English sentences from a small
built-in grammar, so the tokenizer is small (about 4000 entries), needs no download and splits UAS JSON well.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from pathlib import Path

from .. import schema
from ..schema.vocab import SOUND_EVENT_KEYS
from .chatml import CHAT_TEMPLATE, END_OF_TEXT, IM_END, SPECIAL_TOKENS, TOKENIZER_DIR

VOCAB_SIZE = 4000


# --- a tiny English grammar of the project's own --------------------------------------------------------
_SUBJECTS = (
    "the man", "the woman", "a child", "the old man", "my friend", "the teacher", "our neighbour", "the driver",
    "she", "he", "they", "we", "I", "you", "the speaker", "the girl", "the boy", "a stranger", "the doctor",
    "the captain", "my mother", "my father", "his sister", "her brother", "the students", "the farmer",
    "the musician", "a small dog", "the cat", "the crowd", "the baby", "the reporter", "the engineer",
)
_VERBS = (
    "opened", "closed", "found", "lost", "carried", "painted", "cleaned", "watched", "heard", "called",
    "visited", "bought", "sold", "fixed", "broke", "moved", "read", "wrote", "sang", "played", "cooked",
    "asked about", "talked about", "walked to", "ran past", "looked at", "waited for", "thought about",
    "forgot", "remembered", "liked", "loved", "hated", "wanted", "needed", "brought", "took", "made",
    "left", "kept", "followed", "answered", "explained", "described", "finished", "started", "built",
)
_OBJECTS = (
    "the door", "the window", "a letter", "the book", "the old car", "the red box", "a cup of tea",
    "the garden", "the kitchen", "the river", "the station", "the morning train", "a new song", "the piano",
    "the phone", "the market", "the city", "the small village", "the bridge", "the meeting", "the story",
    "the answer", "the question", "a warm coat", "the blue bicycle", "the heavy bag", "the map", "the house",
    "the school", "the office", "the hospital", "the beach", "the mountain", "the forest", "the road",
    "the weather", "the music", "the picture", "the radio", "the television", "the computer", "the paper",
    "the window seat", "the last bus", "the empty room", "the quiet street", "the busy airport",
)
_ADVERBIALS = (
    "yesterday", "this morning", "last night", "in the evening", "after lunch", "before dinner", "at noon",
    "on Monday", "on Tuesday", "on Wednesday", "on Thursday", "on Friday", "on Saturday", "on Sunday",
    "in January", "in the spring", "in the summer", "in the autumn", "in the winter", "every day",
    "again", "quickly", "slowly", "carefully", "quietly", "loudly", "together", "at home", "at work",
    "near the park", "by the sea", "in the rain", "for an hour", "twice", "at last", "once more",
)
_OPENERS = (
    "Well,", "Honestly,", "Listen,", "Oh,", "Yes,", "No,", "Actually,", "Please,", "Sorry,", "Look,",
    "Hello,", "Thanks,", "Okay,", "So,", "Anyway,", "Really?", "Wait,", "Hey,", "Good morning,", "Excuse me,",
)
_QUESTIONS = (
    "Where are you going", "What time is it", "Can you hear me", "Did you see that", "Why is it so loud",
    "How was your day", "Who called this morning", "Is anyone there", "What did she say", "When does it start",
    "Could you repeat that", "Would you like some tea", "Have you been here before", "Are you ready",
)
_NUMBERS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "twenty", "thirty", "forty", "fifty", "hundred", "thousand", "first", "second", "third", "half",
)
_DESCRIPTORS = (
    "breathy", "warm", "bright", "dark", "husky", "nasal", "clear", "thin", "deep", "rich", "raspy", "smooth",
    "slightly muffled", "resonant", "soft", "sharp", "hoarse", "gravelly", "crisp", "mellow", "high-pitched",
    "low-pitched", "steady", "shaky", "fast", "slow", "moderate", "rising", "falling", "flat", "lively",
    "monotone", "even", "irregular", "measured", "hesitant", "confident", "relaxed", "tense", "expressive",
)
_ACCENTS = (
    "General American English", "Southern American English", "British English", "Scottish English",
    "Irish English", "Australian English", "Indian English", "Canadian English", "New Zealand English",
    "South African English", "neutral accent", "non-native English", "French accent", "German accent",
    "Spanish accent", "Chinese accent", "Japanese accent", "Russian accent", "Italian accent",
)
_PACES = ("moderate pace", "fast pace", "slow pace", "steady rhythm", "uneven rhythm", "rising intonation",
          "falling intonation", "flat intonation", "clear articulation", "frequent pauses", "emphatic stress")
_SOUNDS = (
    "door slam", "car horn", "dog bark", "footsteps", "knock", "glass breaking", "phone ringing", "applause",
    "laughter", "cough", "sneeze", "clap", "whistle", "bell", "siren", "gunshot", "thunder", "beep", "click",
    "keyboard typing", "engine rumble", "hiss", "hum", "background music", "rain", "wind", "traffic noise",
    "crowd chatter", "birdsong", "water running", "air conditioner", "fan noise", "static", "electrical buzz",
    "ocean waves", "crackling fire", "vacuum cleaner", "piano", "guitar", "drums", "violin", "synthesizer",
)
_SCENES = (
    "A quiet indoor room", "A busy street", "A small office", "A noisy restaurant", "An open field",
    "A car interior", "A kitchen", "A train station", "A recording studio", "A park on a windy day",
    "A large hall with reverberation", "A bedroom at night", "A cafe", "A classroom", "A construction site",
)
_CHARACTERISTICS = (
    "sharp and loud", "brief and distant", "steady and low", "faint and continuous", "loud and sudden",
    "rhythmic", "repeated twice", "muffled", "close to the microphone", "far away", "intermittent",
    "constant throughout", "fading out", "growing louder", "high-pitched", "low and rumbling",
)
_QA_TEMPLATES = (
    "What is the speaker's {f}?", "Which {f} best describes the speaker?", "Identify the speaker's {f}.",
    "Is the speaker's {f} {v}?", "Describe the speaker's {f} in a few words.",
)


_COMMON_WORDS = """
about above accept account across act action active actor add address admit adult advice afford afraid after
afternoon again against age agency agent ago agree ahead air airport alarm alive allow almost alone along
already also although always amazing among amount ancient angle angry animal announce annual another answer
anxious anybody anyone anything anyway apart apartment appear apple apply approach area argue arm army around
arrange arrive art article artist aside ask asleep attack attempt attend attention attitude audience aunt
author autumn available average avoid awake award aware away awful baby back background bad bag bake balance
ball band bank bar base basic basket bath battery battle beach bean bear beat beautiful beauty because become
bed bedroom beer before begin behave behind believe bell belong below belt bench bend beneath benefit beside
best better between beyond bicycle big bill bird birth birthday bit bite bitter black blade blame blanket
blind block blood blow blue board boat body boil bold bone book boot border bored boring born borrow boss
both bother bottle bottom bowl box brain branch brave bread break breakfast breath breathe brick bridge brief
bright bring broad brother brown brush bubble budget build building burn burst bury bus business busy butter
button buy cabin cable cake calendar calm camera camp can cancel candle candy capital car card care career
careful carpet carry case cash castle catch cause ceiling celebrate cell center central century certain chain
chair challenge champion chance change channel chapter charge cheap check cheek cheese chef chest chicken
chief child chocolate choice choose church circle citizen city claim class classic clean clear clever client
climate climb clock close cloth cloud club coach coast coat coffee coin cold collect college colour column
combine comfort comment common community company compare compete complain complete computer concert
condition confirm connect consider contain content contest continue control conversation cook cool copy
corner correct cost cottage cotton couch could count country couple courage course court cousin cover cow
crack craft crash crazy cream create credit crew crime crisis crop cross crowd crown cry culture cup curious
current curtain curve customer cut cycle daily damage dance danger dark data date daughter dead deal dear
death debate decade decide decision deep defend degree delay deliver demand dentist deny depend describe
desert design desk detail develop device diamond diary dictionary die diet difference different difficult
dig dinner direct direction dirty discover discuss disease dish distance divide doctor document dog dollar
double doubt down downstairs dozen draft drag drama draw dream dress drink drive drop drum dry duck during
dust duty each eager ear early earn earth easily east easy eat edge education effect effort egg eight either
elbow elder election electric elephant else email emergency empty end enemy energy engine enjoy enormous
enough enter entire entrance envelope equal error escape especially evening event ever every evidence exact
exam example excellent except exchange excuse exercise exist exit expect expensive experience expert explain
explore express extra eye face fact factory fail fair faith fall false family famous far farm fashion fast
fat father fault favourite fear feather feature feed feel female fence festival fever few field fight figure
fill film final finally find fine finger finish fire firm fish fit five flag flat flavour flight float floor
flour flower fly fog fold folk follow food foot football force foreign forest forget fork form forward frame
free freedom fresh fridge friend friendly front fruit fuel full fun funny furniture future gain game gap
garage garden gas gate gather general gentle gift give glad glass global glove goal gold golden good goods
government grab grade grain grand grandfather grandmother grass grateful great green greet grey ground group
grow guard guess guest guide guitar habit hair half hall hand handle hang happen happy harbour hard hat hate
head health healthy hear heart heat heavy height hello help here hero hide high hill hire history hit hobby
hold hole holiday hollow home honest hope horse hospital hot hotel hour house however huge human hungry hunt
hurry hurt husband ice idea identify ignore ill image imagine important improve include income increase
indeed independent industry information inside insist instead instrument interest interview introduce
invite iron island issue item jacket jam job join joke journey judge juice jump jungle junior just keen key
kick kid kill kind king kiss kitchen knee knife knock know knowledge lady lake lamp land language large late
laugh laundry law lawyer lay lazy lead leader leaf learn least leather leave left leg legal lemon lend length
less lesson letter level library lie life lift light like limit line lion lip list listen little live local
lock lonely long look loose lose loud love lovely low luck lucky lunch machine mad magazine magic mail main
major make male manage manager many map march mark market marry match material matter maybe meal mean measure
meat medical medicine medium meet member memory mention menu mess message metal method middle midnight might
mild milk mind minute mirror miss mistake mix model modern moment money monkey month mood moon more morning
most mother motor mountain mouse mouth move movie much mud museum music must mystery nail name narrow nation
nature near nearly neat necessary neck need needle neighbour nephew nervous never news newspaper next nice
niece night nobody noise none noon normal north nose note nothing notice novel now number nurse object ocean
offer office officer often oil old once onion only open opinion orange order ordinary organise other outside
oven over own owner pack package page pain paint pair palace pale pan paper parent park part partner party
pass passenger past path patient pattern pause pay peace pen pencil people pepper perfect perhaps period
person pet phone photo piano pick picnic piece pig pilot pink pipe place plain plan plane planet plant plastic
plate platform play player pleasant please plenty pocket poem poet point police polite pool poor popular port
position possible post pot potato pound pour powder power practice praise prefer prepare present president
press pretty prevent price pride prince print prison private prize probably problem produce product profit
programme project promise proper protect proud prove public pull pump punch pupil purple purpose push put
puzzle quality quarter queen quick quiet quite rabbit race radio rail rain raise range rare rate rather raw
reach ready real reason receive recent recipe record recover reduce refuse region regular relax release
remain remove rent repair repeat reply report rescue respect rest result return rice rich ride right ring
rise risk river road rock role roll roof room root rope rough round route row royal rubbish rude rule ruler
run rush sad safe sail salad salt same sand sandwich satisfy sauce save say scale scarf scene school science
scissors score screen sea search season seat secret section see seed seem select sell send sense sentence
separate series serious serve service set settle seven several shade shadow shake shall shape share sharp
sheep sheet shelf shell shine ship shirt shock shoe shoot shop shore short shoulder shout show shower shut
shy sick side sight sign signal silence silent silk silly silver simple since sing single sink sister sit
situation six size skill skin skirt sky sleep slice slide slight slip smart smell smile smoke snack snake
snow soap social society sock soft soil soldier solid solve someone something sometimes son song soon sorry
sort sound soup south space spare speak special speech speed spell spend spicy spirit spoon sport spot spread
square stage stair stamp stand standard star stare state station stay steal steam steel step stick still
stomach stone stop store storm straight strange stranger street strength stress stretch strict strike string
strong student study stuff stupid style subject success sudden sugar suggest suit summer sun supper supply
support suppose sure surface surprise surround sweet swim switch system table tail talent talk tall task
taste tax taxi teach team tear technology teeth telephone tell temperature tent term terrible test text thank
theatre thick thief thin thing think thirsty though thought throat through throw ticket tidy tie tiger tight
time tiny tired title today toe together toilet tomato tomorrow tongue tonight tool tooth top topic total
touch tough tour tourist towel tower town toy track trade traffic train travel treat tree trip trouble
trousers truck true trust truth try tune turn twice type ugly umbrella uncle under understand uniform union
unit universe until upon upset upstairs urban use useful usual valley value van various vegetable vehicle
version very view village visit voice volume vote wage wait wake walk wall wallet wander war warm warn wash
waste watch water wave way weak wealth wear weather wedding week weekend weigh welcome well west wet wheel
while whisper white whole wide wife wild will win wind window wine wing winner winter wire wise wish within
without woman wonder wonderful wood wool word work world worry worse worth wrap write wrong yard year yellow
yesterday young youth zone
""".split()


def _sentence(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.15:
        return f"{rng.choice(_QUESTIONS)}?"
    parts = [rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)]
    if rng.random() < 0.6:
        parts.append(rng.choice(_ADVERBIALS))
    text = " ".join(parts)
    if rng.random() < 0.25:
        text = f"{rng.choice(_OPENERS)} {text}"
    if rng.random() < 0.15:
        text = f"{text} and {rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
    if rng.random() < 0.1:
        text = f"{text} at {rng.randint(1, 12)}:{rng.choice(('00', '15', '30', '45'))}"
    text = text[0].upper() + text[1:]
    return text + rng.choice((".", ".", ".", "!", "?"))


def _events(rng: random.Random, k: int) -> list[dict[str, str]]:
    label_key, characteristic_key = SOUND_EVENT_KEYS
    return [{label_key: label, characteristic_key: rng.choice(_CHARACTERISTICS)}
            for label in rng.sample(_SOUNDS, k)]


def _uas_record(rng: random.Random) -> dict:
    """A UAS-shaped record; keys come from schema/ so the tokenizer sees exactly the schema's spelling."""
    speech = rng.random() < 0.8
    values = {
        "age": rng.choice(schema.AGES), "gender": rng.choice(schema.GENDERS), "emotion": rng.choice(schema.EMOTIONS),
        "accent": rng.choice(_ACCENTS), "prosody": f"{rng.choice(_PACES)}, {rng.choice(_DESCRIPTORS)} delivery",
        "timbre": f"{rng.choice(_DESCRIPTORS)} and {rng.choice(_DESCRIPTORS)}",
    }
    paralinguistics = {key: (values[key] if speech else None) for key in schema.PARALINGUISTIC_KEYS}
    description, discrete, continuous = schema.EVENT_KEYS
    events = {
        description: f"{rng.choice(_SCENES)} with {rng.choice(_SOUNDS)} in the background.",
        discrete: _events(rng, rng.randint(0, 3)),
        continuous: _events(rng, rng.randint(0, 2)),
    }
    return {
        schema.TRANSCRIPTION: _sentence(rng) if speech else None,
        schema.PARALINGUISTICS: paralinguistics,
        schema.NON_LINGUISTIC_EVENTS: events,
    }


def _prompt_lines(rng: random.Random) -> Iterator[str]:
    """The task prompts exactly as schema/ defines them, TTS prompts around generated sentences."""
    for _ in range(50):
        yield from (schema.HOLISTIC_PROMPT, schema.ASR_PROMPT, schema.CAPTION_PROMPT)
        yield schema.tts_prompt(_sentence(rng))


def training_corpus(seed: int = 0, num_sentences: int = 6000, num_records: int = 1500) -> Iterator[str]:
    """Yield the tokenizer's training text: vocabularies, prompts, QA, UAS JSON records and sentences."""
    rng = random.Random(seed)
    vocab_words = [*schema.AGES, *schema.GENDERS, *schema.EMOTIONS, *schema.EMOTION_SYNONYMS,
                   *schema.FIELD_PATHS, *schema.TOP_LEVEL_KEYS, *schema.PARALINGUISTIC_KEYS, *schema.EVENT_KEYS]
    for _ in range(20):
        yield " ".join(vocab_words)
    yield from _prompt_lines(rng)
    for _ in range(num_records):
        record = _uas_record(rng)
        yield json.dumps(record, ensure_ascii=False)
        yield json.dumps(record, ensure_ascii=False, indent=2)
    fields = [*schema.PARALINGUISTIC_KEYS, "transcription", "sound events", "acoustic scene"]
    for _ in range(800):
        field = rng.choice(fields)
        question = rng.choice(_QA_TEMPLATES).format(f=field, v=rng.choice([*schema.AGES, *schema.EMOTIONS]))
        options = rng.sample([*schema.AGES, *schema.GENDERS, *schema.EMOTIONS], 4)
        yield "user\n" + schema.mcq_prompt(question, options)
        yield f"assistant\nThe answer is {rng.choice('ABCD')}. {rng.choice(options)}"
        yield "system\nYou are a helpful assistant that listens to audio."
    for _ in range(num_sentences):
        yield _sentence(rng)
    for _ in range(num_sentences):  # free word sequences spread the merges over the whole word list
        yield " ".join(rng.choice(_COMMON_WORDS) for _ in range(rng.randint(4, 12))).capitalize() + "."
    words = [*_NUMBERS, *_DESCRIPTORS, *_ACCENTS, *_SOUNDS, *_SCENES, *_CHARACTERISTICS, *_PACES]
    repeated = words * 10
    for start in range(0, len(repeated), 12):
        yield " ".join(repeated[start : start + 12])
    for number in range(0, 2100, 7):
        yield f"{number} {number / 10:.1f} {number}%"


def build_tokenizer(out_dir: str | Path = TOKENIZER_DIR, vocab_size: int = VOCAB_SIZE, seed: int = 0):
    """Train the byte-level BPE on :func:`training_corpus` and save it (with the chat template) to ``out_dir``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(training_corpus(seed), trainer=trainer)

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=IM_END,  # chat generation ends a turn with <|im_end|>: the model config's eos_token_id too
        pad_token=END_OF_TEXT,
        additional_special_tokens=[t for t in SPECIAL_TOKENS if t != END_OF_TEXT],
        model_max_length=32768,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out_dir)
    return fast


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=str(TOKENIZER_DIR), help="where to write tokenizer.json and configs")
    parser.add_argument("--vocab-size", type=int, default=VOCAB_SIZE, help="target vocabulary size")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated training text")
    args = parser.parse_args(argv)
    tokenizer = build_tokenizer(args.out_dir, args.vocab_size, args.seed)
    print(f"wrote {args.out_dir}: {len(tokenizer)} tokens")


if __name__ == "__main__":
    main()
