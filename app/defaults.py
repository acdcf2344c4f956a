"""Names and paths the viewer's command line and start-up share."""

from pathlib import Path

PROG = "r2etl-viewer"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_RECORDING = REPO_ROOT / "recordings" / "nmnist-demo.aedat4"
