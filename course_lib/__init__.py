"""course_lib: the building blocks of the Deep Generative Models course.

Import modules, not names, so the prefix shows where code lives::

    from course_lib import env, data, viz
    cfg = env.setup(seed=0)
    mnist = data.load("mnist")
    viz.show_grid(mnist.x[:64])

Three questions find anything:

1. Plumbing? A toolkit module::

       env          device, seeds, budgets: env.setup and cfg.pick
       checks       input checks whose errors name what was expected
       data         data.load(name) for every dataset; photos, patches, toy distributions, voxel shapes
       checkpoints  load_or_train: load a trained model or train it; resume after an interruption
       results      record a measured number, claim a lesson, tables
       train        fit (the non-adversarial loop), fit_loss, random_batches, predict
       viz          every figure, the adversarial engine's figures included (plot_xy, ...)
       exercises    check_close, check_shape, check_true, check_between
       course       the runner (python -m course_lib.course run | list | student | assignments | exercises)
       publish      the website and the lecture slides from the committed notebooks (make site, make slides)
       grading      nbgrader: the exercise-metadata rules, assignments, autograde, exercise counts

2. An image operation or a measure several chapters use? A shared module::

       images       to_pm1 / to_unit, luma, center_crop, down/upsampling, pyramids, blur, add_noise
       quality      PSNR, SSIM, masks, the Y channel, detail (the one sharpness measure)
       metrics      FID (FIDReference), Inception score, KID, precision/recall, recognisable_rate

   and, serving many chapters in the same way: gan + losses (the one adversarial loop, its loss
   pairs, and the course's trained MNIST DCGAN ``gan.mnist_dcgan``), features (pretrained networks),
   likelihood (NLL, ELBO, IWAE, autoregressive sampling).

3. Otherwise: the chapter's module, with its networks in ``nets/`` under the same name::

       sparse (01)  autoencoding, subspace (02)  conditional (08)  scaling (09)  evaluation (10)
       superres (11, 12)  restore (13)  inpainting (14)  translation (15, 16)  text2image (17)
       inversion (18)  aging (19)  voxels (20)

   A chapter module never imports another chapter. Networks several chapters use are in
   ``nets/mlp``, ``nets/dcgan`` (with the conditional variants of 18 and 19), ``nets/classifier``
   and ``nets/image2image``.
"""

__version__ = "0.1.0"
