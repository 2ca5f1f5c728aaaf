"""Testing helpers for voice bots built with trio_pipe, Pipecat or anything on a WebSocket.

``trio_pipe.testing.voice`` holds the adapters; ``trio_pipe.testing.pytest_plugin`` the
pytest fixtures (``voice_agent``).
"""
