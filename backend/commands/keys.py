"""``tokenmocap keys generate DIR NAME``: a CurveZMQ key pair for remote use of the service."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "keys"
HELP = "generate CurveZMQ key pairs for a remote (encrypted) server and its clients"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    gen = sub.add_parser("generate", help="write DIR/NAME.key (public) and DIR/NAME.key_secret (private)")
    gen.add_argument("folder", type=Path)
    gen.add_argument("name")
    gen.add_argument("--force", action="store_true",
                     help="replace an existing pair of that name (every peer holding the old public key is locked "
                          "out)")


def run(args: argparse.Namespace) -> int:
    from backend.commands._checks import UsageError, check_key_name, check_output_folder
    from backend.service import generate_keypair

    check_key_name(args.name)
    existing = [p for p in (args.folder / f"{args.name}.key", args.folder / f"{args.name}.key_secret") if p.exists()]
    if existing and not args.force:
        # Overwriting a secret key is not undoable: the server (or client) using it could no longer be reached.
        raise UsageError(f"{existing[0]} already exists; a new pair would lock out every peer holding the old public "
                         f"key. Choose another NAME, or pass --force to replace the '{args.name}' pair")
    check_output_folder(args.folder, "FOLDER")
    public, secret = generate_keypair(args.folder, args.name)
    print(f"public key: {public}\nsecret key: {secret} (keep it private)\n"
          "Server: tokenmocap serve --address tcp://0.0.0.0:5555 --curve-secret SERVER.key_secret "
          "--curve-clients DIR_WITH_CLIENT_PUBLIC_KEYS\n"
          "Client: give it the server's public .key and its own .key_secret; put its public .key in the "
          "server's --curve-clients folder.")
    return 0
