"""How far CCP's face skin runs down the body: for each photo, the 8-connected skin component that
starts highest (the face, unless a hand is raised above it), its height as a share of the
person's (every labelled pixel). A head is about an eighth of a standing person's height; a
component much taller joins the face to the neck, chest or arms, one part in CCP, head and torso
in Pascal-Part.

    python benchmarks/results/cpu-quality-3400x4/ccp_face_skin.py ../shared/data/clothing-co-parsing
"""

import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

from openparts.data.adapters.ccp import EIGHT_CONNECTED, load_label_names
from openparts.data.adapters.matlab import load_mat


def main() -> None:
    source = Path(sys.argv[1])
    skin = load_label_names(source).index("skin")
    shares = []
    for path in sorted((source / "annotations" / "pixel-level").glob("*.mat")):
        labels = load_mat(path, "groundtruth")
        rows = np.flatnonzero(labels.any(axis=1))
        components, count = ndimage.label(labels == skin, structure=EIGHT_CONNECTED)
        if not count or not rows.size:
            continue
        boxes = ndimage.find_objects(components)
        top = min(range(count), key=lambda i: boxes[i][0].start)
        height = boxes[top][0].stop - boxes[top][0].start
        shares.append(height / (rows[-1] - rows[0] + 1))
    shares = np.array(shares)
    print(f"{len(shares)} photos; the highest skin component's height / the person's height:")
    print("quartiles " + " ".join(f"{q:.3f}" for q in np.quantile(shares, [0.25, 0.5, 0.75])))
    for threshold in (0.15, 0.2, 0.3, 0.5):
        print(f"taller than {threshold:.2f} of the person: {100 * np.mean(shares > threshold):.1f} %")


if __name__ == "__main__":
    main()
