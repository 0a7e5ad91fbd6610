"""AdaNAS: AdaNet-style ensemble neural architecture search for image classification.

The library is plain Python/NumPy/TensorFlow; nothing here imports kfp. The KFP components
(`components/`) and the pipeline (`pipelines/`) are thin wrappers around these modules.
Modules that only need NumPy (config, generators, ensemble, report) do not import TensorFlow,
so the light pipeline steps start fast.
"""

__version__ = "0.1.0"
