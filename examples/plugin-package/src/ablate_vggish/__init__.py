"""ablate-vggish: an example third-party ablate plugin package.

Installing it (``pip install .``) adds, through the ``ablate`` entry-point group:

- model ``vggish``: a small VGG-style CNN with slots ``block1``, ``block2``, ``block3``, ``head``;
- scheduler ``warmup-cosine``: linear warm-up, then cosine decay, stepped per optimizer step;
- placement ``vgg-late-bn``: BatchNorm only at ``block3`` and ``head``;
- plugin ``vggish-csv``: appends one row per epoch to the CSV file named by ``$ABLATE_CSV``.
"""

__version__ = "0.1.0"
