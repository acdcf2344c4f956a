"""Names and paths the viewer's command line and start-up share."""

from pathlib import Path

PROG = "r2etl-viewer"
DEFAULT_SCREENSHOT_S = 5.0  # --screenshot without --quit-after: seconds before the picture
REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_RECORDING = REPO_ROOT / "recordings" / "nmnist-demo.aedat4"
