"""trailhouse: a self-hosted audit trail compatible with Alibaba Cloud ActionTrail.

Services record audit events; people search the last 90 days with LookupEvents through the
official Alibaba Cloud SDK; trails deliver events exactly once into a MaxCompute-style SQL
warehouse. `trailhouse.Recorder` is the Python producer client.
"""

from __future__ import annotations

__version__ = "0.1.0"

from trailhouse.producers import AuditMiddleware, Recorder, RecorderStats

__all__ = ["AuditMiddleware", "Recorder", "RecorderStats", "__version__"]
