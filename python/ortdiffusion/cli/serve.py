"""``ortdiffusion serve``: the AUTOMATIC1111 and OpenAI APIs over the ONNX pipelines (needs the ``[server]``
extra). With no arguments it serves the embedded model and its variants on 127.0.0.1:7860."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def run(args: argparse.Namespace) -> int:
    """Build the settings, warn about an unprotected public bind, and serve until SIGINT / SIGTERM."""
    try:
        import uvicorn

        from ortdiffusion.server import Limits, ServerSettings, create_app
        from ortdiffusion.server.settings import parse_api_auth
    except ImportError as e:
        raise ValueError(f"serve needs the server extra: pip install 'ortdiffusion[server]' ({e})") from None
    for name in ("models", "lora_dir", "embeddings_dir"):
        folder = getattr(args, name)
        if folder is not None and not folder.is_dir():
            raise ValueError(f"--{name.replace('_', '-')}: {folder} is not a folder")
    settings = ServerSettings(
        models_dir=args.models, model=args.model, lora_dir=args.lora_dir, embeddings_dir=args.embeddings_dir,
        api_auth=parse_api_auth(args.api_auth) if args.api_auth else (), api_key=args.api_key,
        queue_size=args.queue_size, limits=Limits(max_side=args.max_side, max_steps=args.max_steps),
    )
    if args.host not in LOOPBACK and not settings.api_auth:
        print(f"ortdiffusion: warning: serving on {args.host} without --api-auth: anyone who can reach this port can "
              "generate pictures", file=sys.stderr)
    app = create_app(settings)  # checks --model before anything listens
    queue = app.state.server.queue

    class Server(uvicorn.Server):
        """uvicorn's server, which on SIGINT / SIGTERM first stops the job queue: the running job ends at its
        next step and the waiting ones are answered 503, so open requests finish and the process exits."""

        def handle_exit(self, sig: int, frame: object) -> None:
            queue.stop()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning" if args.quiet else "info")
    Server(config).run()
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``serve`` on the command's sub-parsers."""
    parser = sub.add_parser("serve", help="serve AUTOMATIC1111's and OpenAI's image APIs (pip install '.[server]')",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--models", type=Path, help="folder of exported models, one per subfolder (served by name)")
    parser.add_argument("--model", help="the model loaded first (a name under --models; default: the embedded model)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on")
    parser.add_argument("--api-auth", metavar="USER:PASS[,...]", help="HTTP basic credentials required on every route")
    parser.add_argument("--api-key", help="bearer key the OpenAI routes accept (Authorization: Bearer KEY)")
    parser.add_argument("--lora-dir", type=Path, help="folder of LoRA .safetensors, named in prompts as <lora:NAME:WEIGHT>")
    parser.add_argument("--embeddings-dir", type=Path, help="folder of textual-inversion .safetensors (the stem is the word)")
    parser.add_argument("--queue-size", type=int, default=16, help="requests that may wait; more get 429")
    parser.add_argument("--max-side", type=int, default=1024, help="largest width or height a request may ask for")
    parser.add_argument("--max-steps", type=int, default=150, help="most steps a request may ask for")
    parser.add_argument("--quiet", action="store_true", help="log warnings only")
    parser.set_defaults(func=run)
