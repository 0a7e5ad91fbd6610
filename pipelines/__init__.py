"""The AdaNAS pipeline (DAG wiring only), its local runner, Vertex AI submission and the CLI."""

from pathlib import Path

CONFIG_DIR = Path(__file__).parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "digits.yaml"
