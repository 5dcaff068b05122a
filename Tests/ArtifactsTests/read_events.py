"""Loads a TensorBoard event file with TensorBoard's own EventAccumulator and prints JSON.

Usage: python3 read_events.py EVENT_FILE

Output: {"scalars": {tag: [[step, value], ...]},
         "images": {tag: [{"step", "width", "height", "base64"}, ...]}}
Exit code 3 means tensorboard is not importable (the Swift test then skips).
"""
import base64
import json
import sys

try:
    from tensorboard.backend.event_processing import event_accumulator as ea
except ImportError as error:
    print(f"tensorboard is not importable: {error}", file=sys.stderr)
    sys.exit(3)


def main(path):
    accumulator = ea.EventAccumulator(path, size_guidance={ea.SCALARS: 0, ea.IMAGES: 0})
    accumulator.Reload()
    tags = accumulator.Tags()
    scalars = {
        tag: [[event.step, event.value] for event in accumulator.Scalars(tag)]
        for tag in tags.get(ea.SCALARS, [])
    }
    images = {
        tag: [
            {
                "step": event.step,
                "width": event.width,
                "height": event.height,
                "base64": base64.b64encode(event.encoded_image_string).decode("ascii"),
            }
            for event in accumulator.Images(tag)
        ]
        for tag in tags.get(ea.IMAGES, [])
    }
    print(json.dumps({"scalars": scalars, "images": images}))


if __name__ == "__main__":
    main(sys.argv[1])
