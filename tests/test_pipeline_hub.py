"""push_to_hub uploads this library's model cards (pipeline and components), with no network.

``huggingface_hub.HfApi.create_repo`` and ``HfApi.create_commit``, the two calls that would reach the Hub,
are replaced by a recorder that keeps the real ``CommitOperationAdd`` objects the upload builds, so the
test reads the uploaded files from them.
"""

from __future__ import annotations

import os

import pytest
import yaml
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.hf_api import CommitInfo, RepoUrl

from foresight_models import testing
from foresight_models.models.adapters import QueryAdapter


class HubRecorder:
    def __init__(self):
        self.repos: list[str] = []
        self.commits: list[dict] = []

    def create_repo(self, api, repo_id, **kwargs):
        full = repo_id if "/" in repo_id else f"someone/{repo_id}"
        self.repos.append(full)
        return RepoUrl(f"https://huggingface.co/{full}")

    def create_commit(self, api, repo_id, operations, **kwargs):
        files = {}
        for op in operations:
            assert isinstance(op, CommitOperationAdd)
            source = op.path_or_fileobj
            if isinstance(source, (str, os.PathLike)):
                with open(source, "rb") as file:
                    files[op.path_in_repo] = file.read()
            else:
                files[op.path_in_repo] = bytes(source) if isinstance(source, bytes) else source.read()
        self.commits.append({"repo_id": repo_id, "files": files, "message": kwargs.get("commit_message")})
        url = f"https://huggingface.co/{repo_id}/commit/{'0' * 40}"
        return CommitInfo(commit_url=url, commit_message="", commit_description="", oid="0" * 40)

    def readme(self, index: int = -1) -> tuple[dict, str]:
        text = self.commits[index]["files"]["README.md"].decode()
        _, metadata, body = text.split("---", 2)
        return yaml.safe_load(metadata), body


@pytest.fixture
def hub(monkeypatch):
    recorder = HubRecorder()
    monkeypatch.setattr(HfApi, "create_repo", lambda api, repo_id, **kw: recorder.create_repo(api, repo_id, **kw))
    monkeypatch.setattr(
        HfApi, "create_commit", lambda api, repo_id, operations, **kw: recorder.create_commit(api, repo_id, operations, **kw)
    )
    return recorder


def assert_pipeline_card(metadata: dict, body: str, repo_id: str) -> None:
    assert metadata["base_model"] == ["Lightricks/LTX-Video"]
    assert metadata["license"] == "apache-2.0"
    assert metadata["pipeline_tag"] == "image-to-video"
    assert "foresight_models" in metadata["tags"]
    assert f'ForesightPipeline.from_pretrained("{repo_id}"' in body
    assert "Model Card for Model ID" not in body


def test_pipeline_push_to_hub_uploads_the_library_card(hub):
    pipe = testing.tiny_pipeline(vlm=False)
    pipe.base_models, pipe.license = ["Lightricks/LTX-Video"], "apache-2.0"
    pipe.push_to_hub("lab/foresight-test")
    assert hub.repos == ["lab/foresight-test"] and len(hub.commits) == 1
    files = hub.commits[0]["files"]
    assert "model_index.json" in files and any(name.startswith("transformer/") for name in files)
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)
    assert_pipeline_card(*hub.readme(), "lab/foresight-test")


def test_save_pretrained_push_to_hub_uploads_the_library_card(hub, tmp_path):
    pipe = testing.tiny_pipeline(vlm=False)
    pipe.save_pretrained(
        tmp_path / "my-foresight", push_to_hub=True, base_models=["Lightricks/LTX-Video"], license="apache-2.0"
    )
    assert hub.repos == ["someone/my-foresight"] and len(hub.commits) == 1
    assert_pipeline_card(*hub.readme(), "someone/my-foresight")
    # the local folder holds the same card
    assert (tmp_path / "my-foresight" / "README.md").read_bytes() == hub.commits[0]["files"]["README.md"]


def test_pipeline_loaded_from_local_folders_records_base_model_and_license(tmp_path):
    pipe = testing.tiny_pipeline(vlm=False)
    pipe.save_pretrained(tmp_path / "saved", base_models=["Lightricks/LTX-Video"], license="apache-2.0")
    from foresight_models import ForesightPipeline

    loaded = ForesightPipeline.from_pretrained(tmp_path / "saved", local_files_only=True)
    assert loaded.base_models == ["Lightricks/LTX-Video"] and loaded.license == "apache-2.0"
    # a plain LTX-Video folder in the Hub cache layout names its repository through its path
    snapshot = tmp_path / "hub" / "models--Lightricks--LTX-Video" / "snapshots" / "abc123"
    testing.tiny_ltx_pipeline().save_pretrained(snapshot)
    (snapshot / "README.md").write_text("---\nlicense: other\n---\n# LTX-Video\n")
    assembled = ForesightPipeline.from_components(snapshot, vlm=None, local_files_only=True)
    assert assembled.base_models == ["Lightricks/LTX-Video"] and assembled.license == "other"


@pytest.mark.parametrize("entry", ["push_to_hub", "save_pretrained"])
def test_component_push_uploads_its_own_card(hub, tmp_path, entry):
    adapter = QueryAdapter(d_in=32, d_out=32, num_tokens=4, dim=32, depth=1, heads=4, dim_head=8)
    if entry == "push_to_hub":
        adapter.push_to_hub("lab/query-adapter", base_models=["Qwen/Qwen2.5-VL-7B-Instruct"], license="apache-2.0")
        repo = "lab/query-adapter"
    else:
        adapter.hub_license = "apache-2.0"
        adapter.save_pretrained(tmp_path / "query-adapter", push_to_hub=True)
        repo = "someone/query-adapter"
    files = hub.commits[0]["files"]
    assert "config.json" in files and "diffusion_pytorch_model.safetensors" in files
    metadata, body = hub.readme()
    assert metadata["license"] == "apache-2.0" and "QueryAdapter" in metadata["tags"]
    assert f'QueryAdapter.from_pretrained("{repo}")' in body
    assert "Model Card for Model ID" not in body
    if entry == "push_to_hub":
        assert metadata["base_model"] == ["Qwen/Qwen2.5-VL-7B-Instruct"]
