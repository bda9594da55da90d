"""Start the real TokenMocap backend for the Blender tests (run with the backend venv, not .venv-blender).

    .venv/bin/python tests/blender/real_backend.py WORK_DIR

Writes synthetic SMPL files and a tiny TokenHMR in the official formats, installs them with the project's
installer into WORK_DIR/models, writes a real photo of a person (skimage's astronaut) to WORK_DIR/person.png,
binds the server on 127.0.0.1 (random port) and prints one JSON line {"address", "image"} when it is ready. It
serves until terminated (SIGTERM/SIGINT).
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path


def main(work_dir: str) -> int:
    import cv2
    from skimage import data

    from backend.body import write_synthetic_smpl_files
    from backend.install import install_models
    from backend.models import write_tiny_tokenhmr_files
    from backend.service import Server, ServerConfig

    work = Path(work_dir)
    source = work / "downloads"
    write_synthetic_smpl_files(source, seed=0)
    write_tiny_tokenhmr_files(source / "tokenhmr", seed=0)
    install_models(source, work / "models")
    image_path = work / "person.png"
    cv2.imwrite(str(image_path), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    server = Server(ServerConfig(address="tcp://127.0.0.1:*", models_dir=work / "models", engine="tokenhmr",
                                 device="cpu", detector="full_frame"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    server.wait_bound(60.0)
    print(json.dumps({"address": server.address, "image": str(image_path)}), flush=True)
    try:
        sys.stdin.read()  # the test closes stdin (or terminates us) to stop the server
    finally:
        server.stop()
        thread.join(10)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
