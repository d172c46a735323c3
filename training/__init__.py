"""The training wing: corpus, augmentation, the training loop and its run folder, baselines and evaluation.

Built on model_core; the service never imports it (the Docker image does not ship it).
"""
