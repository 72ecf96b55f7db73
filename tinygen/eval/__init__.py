"""Evaluation of generative models by their samples (NumPy only, float64).

    parzen.py    Parzen-window log-likelihood with the protocol of Goodfellow et al. 2014
                 (sigma chosen on a validation set, mean +- standard error on the test set)
    frechet.py   Fréchet distance between Gaussians fitted to two feature sets; tinygen
                 reports it in the features of its own MNIST classifier
                 (tinygen/models/classifier.py) as the "Fréchet distance in
                 tinygen-classifier features", which is not FID

Likelihood models (PixelCNN, VAE) are evaluated by their own exact or bounded log-likelihood
(their `evaluate` methods); the GAN, which has none, by these.
"""
from tinygen.eval.frechet import (frechet_distance, frechet_distance_gaussians,  # noqa: F401
                                  gaussian_stats, psd_sqrt)
from tinygen.eval.parzen import (SIGMA_GRID, parzen_evaluate, parzen_log_likelihood,  # noqa: F401
                                 parzen_log_likelihoods, select_sigma)
