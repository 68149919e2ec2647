"""Training, prediction and evaluation command-line tools built on ``model.fit``.

Importing the package loads TensorFlow with its start-up banner (absl's "log
messages before absl::InitializeLog()", oneDNN, CUDA probing) kept off the
terminal: TF 2.21 writes it to file descriptor 2 before any log level applies.
It is shown when the import fails, or always with ``ZOO_TF_BANNER=1``.
"""

import os
import sys
import tempfile


def _import_tensorflow_quietly() -> None:
    if "tensorflow" in sys.modules or os.environ.get("ZOO_TF_BANNER") == "1":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as banner:
        os.dup2(banner.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        except BaseException:
            os.dup2(saved, 2)
            banner.seek(0)
            sys.stderr.buffer.write(banner.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


_import_tensorflow_quietly()
