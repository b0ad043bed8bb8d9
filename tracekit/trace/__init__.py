"""viztracer's trace, from the bytes the tracer wrote to the frames the analysis reads.

In pipeline order:
  format.py   viztracer 1.1.1's trace document (the only module that knows it): parse, validate,
              classify tracks as threads or asyncio tasks, enrich, and tracekit's line layout of trace.json
  frames.py   a trace document → `Trace` (the Events and Tracks frames, documented there); `renest`
  nesting.py  the nesting algorithm: depth, caller and self time of each slice in its track
  cache.py    the columnar cache of a loaded trace (events.npz), used only while trace.json is unchanged

numpy and pandas are imported inside the functions that need them: `tracekit profile` imports this
package before it starts the child, and enriching a trace needs only orjson.
"""
