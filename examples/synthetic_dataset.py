"""Synthetic moving shapes -> an SSv2-layout folder of real webm files -> context/future batches.

Runs offline in a few seconds:

    python examples/synthetic_dataset.py
"""

import tempfile

from torch.utils.data import DataLoader

from foresight_models.data import SomethingSomethingV2, SyntheticMotion, collate_clips, read_video, video_info


def main() -> None:
    clips = SyntheticMotion(num_clips=6, frames=24, size=64, seed=0)
    item = clips[2]
    print(f"clip {item['id']}: {item['label']!r} (template {item['template']!r})")
    print(
        f"  frames {tuple(item['frames'].shape)} uint8, boxes {tuple(item['boxes'].shape)}, masks {tuple(item['masks'].shape)}"
    )
    print(
        f"  first/last box of {item['object_names'][0]}: {item['boxes'][0, 0].tolist()} -> {item['boxes'][-1, 0].tolist()}"
    )

    with tempfile.TemporaryDirectory() as root:
        clips.write_ssv2(root, split="train", options={"deadline": "realtime", "cpu-used": "8"})
        path = f"{root}/20bn-something-something-v2/{item['id']}.webm"
        info = video_info(path)
        print(f"wrote {info.num_frames} frames of {info.codec} at {info.fps:g} fps, {info.height}x{info.width}")
        window = read_video(path, start=8, num_frames=8, stride=2)  # seeks, then decodes frames 8, 10, ..., 22
        error = (window.float() - item["frames"][8:24:2].float()).abs().mean().item()
        print(f"window {tuple(window.shape)}, mean abs error after VP9: {error:.2f} / 255")

        dataset = SomethingSomethingV2(root, "train", context_frames=4, future_frames=4, size=64, stride=2)
        loader = DataLoader(dataset, batch_size=3, num_workers=2, collate_fn=collate_clips)
        for batch in loader:
            print(
                f"batch: context {tuple(batch['context'].shape)}, future {tuple(batch['future'].shape)}, "
                f"labels {batch['label']}"
            )


if __name__ == "__main__":
    main()
