"""dlpipe's ground floor: the facts and small mechanisms every other package stands on.

``errors`` (the error a user can act on), ``contract`` (signature, input, output and method
names, model version states, the version-directory rule), ``examples`` (the one reader and
writer of tf.Example TFRecords) and ``files`` (writing files whole or not at all). Nothing here
imports the project's other packages.
"""
