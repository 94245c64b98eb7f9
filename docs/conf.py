"""Sphinx configuration of the course website (``make site``; sources laid out by course_lib.publish).

The notebooks are rendered with their committed outputs (myst-nb, execution off) in sphinx-book-theme;
MathJax 3 is served from the site itself (the PyPI package sphinx-mathjax-offline), so nothing is loaded
from a CDN.
"""

project = "Deep Generative Models, the course"
author = "the course authors"
copyright = "the course authors, MIT licence"

extensions = ["myst_nb", "sphinx-mathjax-offline"]

# the notebooks keep the outputs they were committed with
nb_execution_mode = "off"
nb_ipywidgets_js = {}            # no widget manager from a CDN; static widget views show their text
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True     # the notebooks put $$...$$ display math inside paragraphs
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]

html_theme = "sphinx_book_theme"
html_title = "Deep Generative Models"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "home_page_in_toc": True,
    "navigation_with_keys": True,
}
html_static_path = []
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
exclude_patterns = ["_build", ".doctrees", "**.ipynb_checkpoints"]


def setup(app):
    # MathJax on every page (search and index too): the navigation shows notebook titles with math in them
    app.set_html_assets_policy("always")
