"""Ask a MobileVLM about an image: one answer, a streamed answer, a batch, and a two-turn chat.

Run it on a published checkpoint (downloaded on first use) and your own image::

    python examples/inference.py --model mtgv/MobileVLM_V2-1.7B --image photo.jpg

or on any local checkpoint folder. Without ``--image`` it draws a picture to ask about. On a
machine without a GPU everything runs on the CPU; ``--load-8bit`` there uses mvlm's weight-only
int8 for the language model.
"""

from __future__ import annotations

import argparse

from PIL import Image, ImageDraw

from mvlm.inference import ChatSession, load_model_for_inference


def drawn_picture() -> Image.Image:
    """A red circle and a blue square on white, for runs without an image of one's own."""
    image = Image.new("RGB", (336, 240), "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse((30, 50, 150, 170), fill=(220, 30, 30))
    draw.rectangle((190, 60, 300, 170), fill=(30, 60, 220))
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mtgv/MobileVLM_V2-1.7B", help="checkpoint folder or hub id")
    parser.add_argument("--image", help="an image file (default: a drawn picture)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="most tokens per answer (default: 64)")
    parser.add_argument("--load-8bit", action="store_true", help="8-bit weights (int8 on CPU, bitsandbytes on CUDA)")
    parser.add_argument(
        "--dtype",
        default="auto",
        help="float32, float16, bfloat16 or auto (default: float16 on CUDA; on CPU bfloat16 where it computes "
        "bf16 natively, else float32)",
    )
    args = parser.parse_args()

    model = load_model_for_inference(args.model, dtype=args.dtype, load_8bit=args.load_8bit)
    image = args.image or drawn_picture()
    options = {"max_new_tokens": args.max_new_tokens}

    # One question, greedy decoding (as the paper's evaluation): the image goes in front of the prompt.
    print("answer:", model.chat(image, "What is in the image?", **options))

    # The same answer, printed piece by piece as it is generated.
    print("streamed: ", end="")
    for piece in model.chat(image, "What is in the image?", stream=True, **options):
        print(piece, end="", flush=True)
    print()

    # Several questions in one left-padded batch: the same answers as asking one at a time.
    questions = ["What colors do you see?", "How many shapes are there?"]
    for question, answer in zip(questions, model.chat(image, questions, **options), strict=True):
        print(f"batch: {question} -> {answer}")

    # A conversation: the image is encoded once, each answer joins the history.
    session = ChatSession(model, image, **options)
    for question in ("What is on the left?", "And on the right?"):
        print(f"chat: {question} -> {session.ask(question)}")


if __name__ == "__main__":
    main()
