"""Test-wide settings: offline hub, quiet tokenizers, and GPU tests skipped where no CUDA device exists."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
# The embedded model experts (uas-audio[experts], installed by `make install-dev`) stay out of the annotation tests'
# default expert set, which test the signal experts and rules; the tests of the embedded experts build them by name.
os.environ.setdefault("UAS_AUDIO_EMBEDDED_EXPERTS", "0")

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a module of tiny-model tests: on a shared 2-core machine two threads
    contend and run many times slower. Restores the previous count afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# Markers that transformers' common test mixins (tests/test_transformers_common.py) put on their tests.
TRANSFORMERS_MARKERS = (
    "accelerate_tests", "flash_attn_test", "flash_attn_3_test", "flash_attn_4_test", "torch_compile_test",
    "is_training_test", "is_pipeline_test", "is_tensor_parallel_test", "is_expert_parallel_test", "is_fsdp_test",
    "is_agent_test", "is_staging_test", "order",
)


def pytest_configure(config):
    for marker in TRANSFORMERS_MARKERS:
        config.addinivalue_line("markers", f"{marker}: set by transformers' common test mixins")


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:  # torch missing entirely
        has_cuda = False
    if not has_cuda:
        skip = pytest.mark.skip(reason="needs a CUDA device (run with the device tool when one is lent)")
        for item in gpu_items:
            item.add_marker(skip)
