"""A pipeline folder with a damaged weights file is refused before loading, naming the file."""

import shutil

import pytest
import torch

from foresight_models import ForesightPipeline, testing


@pytest.mark.parametrize(
    "name",
    ["transformer/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors", "vlm/model.safetensors"],
)
def test_a_truncated_weights_file_is_refused_naming_it(tmp_path, name):
    folder = tmp_path / "pipeline"
    shutil.copytree(testing.tiny_pipeline_folder(), folder)
    weights = folder / name
    intact = weights.read_bytes()
    weights.write_bytes(intact[: len(intact) // 2])
    with pytest.raises(OSError, match=f"{weights}: truncated safetensors file"):
        ForesightPipeline.from_pretrained(folder, local_files_only=True)
    weights.write_bytes(intact[:5])
    with pytest.raises(OSError, match=f"{weights}: not a safetensors file"):
        ForesightPipeline.from_pretrained(folder, local_files_only=True)
    weights.write_bytes(intact)  # the intact file loads again
    assert isinstance(ForesightPipeline.from_pretrained(folder, local_files_only=True).vlm, torch.nn.Module)
