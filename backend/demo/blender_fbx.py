"""Export one reconstructed person as an FBX through the add-on's own code; runs in ``.venv-blender`` (bpy).

Not part of the ``backend`` package's import graph: ``tokenmocap demo`` runs this file with the Blender venv's
Python and ``PYTHONPATH`` set to the project folder, so it imports the add-on (``blender_addon.blender_io``,
which imports bpy) and numpy only, never torch or the backend.

Usage: python blender_fbx.py BODY_MODEL.npz PERSON.json OUT.fbx

``BODY_MODEL.npz`` holds the ``body_model`` arrays (vertices, faces, weights, joints, parents, joint_names);
``PERSON.json`` is one ``PersonResult.to_json()`` object. Exit code 0 on success, 2 for bad arguments, 1 when
the export fails (the message on stderr says why).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: blender_fbx.py BODY_MODEL.npz PERSON.json OUT.fbx\n")
        return 2
    import bpy
    import numpy as np

    from blender_addon.blender_io import export_person_fbx

    body_path, person_path, out_path = (Path(a) for a in argv)
    with np.load(body_path, allow_pickle=False) as data:
        body_model = {key: data[key] for key in data.files}
    body_model["joint_names"] = [str(n) for n in body_model["joint_names"]]
    person = json.loads(person_path.read_text(encoding="utf-8"))
    bpy.ops.wm.read_factory_settings(use_empty=True)  # no default cube, camera or light in the file
    try:
        written = export_person_fbx(body_model, person, out_path)
    except (ValueError, RuntimeError) as e:
        sys.stderr.write(f"FBX export failed: {e}\n")
        return 1
    sys.stdout.write(json.dumps({"fbx": str(written)}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
