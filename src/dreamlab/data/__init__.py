"""Episodes on disk, replay buffers and data collection.

``Episode`` / ``EpisodeBuilder`` / ``EpisodeStore`` keep episodes in the time indexing of
``dreamlab.types``; ``ReplayBuffer`` samples transitions and sequence windows from them;
``collect`` fills a store from a gymnasium environment.
"""

from __future__ import annotations

from dreamlab.data.collect import CollectPolicy, collect
from dreamlab.data.episodes import Episode, EpisodeBuilder, EpisodeStore
from dreamlab.data.replay import ReplayBuffer, Transitions

__all__ = [
    "CollectPolicy",
    "Episode",
    "EpisodeBuilder",
    "EpisodeStore",
    "ReplayBuffer",
    "Transitions",
    "collect",
]
