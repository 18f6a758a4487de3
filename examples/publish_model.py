"""Save a ForesightPipeline as a diffusers folder with its model card, check that it reloads offline,
and publish it to the Hugging Face Hub only when asked.

Offline, on the tiny random-weight pipeline (seconds; nothing leaves the machine)::

    python examples/publish_model.py --output /tmp/my-foresight

From a saved pipeline folder (e.g. trained components assembled and saved earlier), publishing it::

    hf auth login                                   # once, or set HF_TOKEN
    python examples/publish_model.py --model path/to/pipeline --output my-foresight \\
        --repo-id your-name/my-foresight --push

Without ``--push`` the script prints the upload it would do. The folder is uploaded as saved, so the
Hub shows this library's model card (``pipe.push_to_hub`` would replace it with diffusers' generic one).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

BASE_MODELS = ["Lightricks/LTX-Video", "Qwen/Qwen2.5-VL-7B-Instruct"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="saved ForesightPipeline folder (default: the tiny pipeline)")
    parser.add_argument("--output", type=Path, required=True, help="folder to write (must not exist or be empty)")
    parser.add_argument(
        "--base-model", action="append", default=None, help=f"card's base_model (default: {BASE_MODELS})"
    )
    parser.add_argument("--repo-id", default=None, help="Hub repository, 'owner/name'")
    parser.add_argument("--private", action="store_true", help="create the Hub repository as private")
    parser.add_argument("--push", action="store_true", help="upload to --repo-id (needs a network and a token)")
    args = parser.parse_args()
    if args.push and not args.repo_id:
        parser.error("--push needs --repo-id owner/name")
    if args.repo_id is not None and args.repo_id.count("/") != 1:
        parser.error(f"--repo-id: expected 'owner/name', got {args.repo_id!r}")
    if args.output.exists() and any(args.output.iterdir()):
        parser.error(f"--output: {args.output} exists and is not empty")

    from foresight_models import ForesightPipeline, testing  # after the checks: loading torch takes seconds

    if args.model is None:
        pipe = testing.tiny_pipeline()
    else:
        pipe = ForesightPipeline.from_pretrained(args.model, local_files_only=True)
    base_models = args.base_model if args.base_model is not None else (pipe.base_models or BASE_MODELS)
    pipe.save_pretrained(args.output, base_models=base_models)

    # the folder must stand on its own: reload it with the network off
    reloaded = ForesightPipeline.from_pretrained(args.output, local_files_only=True)
    missing = sorted(
        name for name, module in pipe.components.items() if module is not None and reloaded.components.get(name) is None
    )
    if missing:
        shutil.rmtree(args.output)
        raise SystemExit(f"components lost on reload: {missing}")

    from huggingface_hub import ModelCard

    card = ModelCard.load(args.output / "README.md")
    files = sorted(str(p.relative_to(args.output)) for p in args.output.rglob("*") if p.is_file())
    print(f"saved {args.output}: {len(files)} files, reloads offline")
    for name in files:
        print(f"  {name}")
    print(
        f"model card: library_name={card.data.library_name}, pipeline_tag={card.data.pipeline_tag}, "
        f"base_model={card.data.base_model}, tags={card.data.tags}"
    )

    if args.repo_id is None:
        return
    if not args.push:
        print(f"not pushed (add --push): would create {args.repo_id} and upload {args.output} to it")
        return
    from huggingface_hub import create_repo, upload_folder

    repo_id = create_repo(args.repo_id, private=args.private, exist_ok=True).repo_id
    commit = upload_folder(repo_id=repo_id, folder_path=args.output, commit_message="Upload ForesightPipeline")
    print(f"pushed to https://huggingface.co/{repo_id} ({commit.oid})")


if __name__ == "__main__":
    main()
