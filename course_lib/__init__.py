"""course_lib: the building blocks of the Deep Generative Models course.

Import modules, not names, so the prefix shows where code lives::

    from course_lib import env, data, viz
    cfg = env.setup(seed=0)
    mnist = data.load("mnist")
    viz.show_grid(mnist.x[:64])
"""

__version__ = "0.1.0"
