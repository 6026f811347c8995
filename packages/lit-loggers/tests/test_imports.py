"""`import lit_loggers` imports no back-end; a missing back-end names the extra to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

_BACKENDS = [
    "tensorboard",
    "tensorboardX",
    "torch.utils.tensorboard",
    "mlflow",
    "wandb",
    "comet_ml",
    "neptune",
    "yaml",
]


def run_python(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_import_loads_no_backend():
    code = f"""
    import json, sys
    import lit_loggers
    import lit_loggers._fs, lit_loggers._tfevents, lit_loggers.utilities
    from lit_loggers import CSVLogger, TensorBoardLogger, MLFlowLogger, WandbLogger, CometLogger, NeptuneLogger
    print(json.dumps([name for name in {_BACKENDS!r} if name in sys.modules]))
    """
    assert json.loads(run_python(code)) == []


def test_creating_a_csv_logger_loads_no_backend(tmp_path):
    code = f"""
    import json, sys
    from lit_loggers import CSVLogger
    logger = CSVLogger({str(tmp_path)!r})
    logger.log_metrics({{"a": 1.0}}, step=0)
    logger.finalize("success")
    print(json.dumps([name for name in {_BACKENDS!r} if name in sys.modules]))
    """
    assert json.loads(run_python(code)) == []


def test_missing_backends_raise_missing_extra_error():
    code = """
    import json, sys
    for name in ("mlflow", "wandb", "comet_ml", "neptune"):
        sys.modules[name] = None  # makes the package unimportable, as if it were not installed
    from lit_hooks import MissingExtraError
    from lit_loggers import CometLogger, MLFlowLogger, NeptuneLogger, WandbLogger
    out = {}
    for cls in (MLFlowLogger, WandbLogger, CometLogger, NeptuneLogger):
        try:
            cls()
        except MissingExtraError as err:
            out[cls.__name__] = [str(err), err.extra, err.distribution]
    print(json.dumps(out))
    """
    out = json.loads(run_python(code))
    assert out == {
        "MLFlowLogger": [
            "`MLFlowLogger` requires `mlflow`, which is not installed."
            " Install it with `pip install 'lit-loggers[mlflow]'`.",
            "mlflow",
            "lit-loggers",
        ],
        "WandbLogger": [
            "`WandbLogger` requires `wandb`, which is not installed. Install it with `pip install 'lit-loggers[wandb]'`.",
            "wandb",
            "lit-loggers",
        ],
        "CometLogger": [
            "`CometLogger` requires `comet-ml`, which is not installed."
            " Install it with `pip install 'lit-loggers[comet]'`.",
            "comet",
            "lit-loggers",
        ],
        "NeptuneLogger": [
            "`NeptuneLogger` requires `neptune`, which is not installed."
            " Install it with `pip install 'lit-loggers[neptune]'`.",
            "neptune",
            "lit-loggers",
        ],
    }
