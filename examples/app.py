"""A Hugging Face Space: the foresight demo in a browser (`python examples/app.py`, then open http://127.0.0.1:7860).

Needs `pip install "foresight-models[demo]"`. On a Space, put this file at the root as `app.py`
and load your own pipeline: `load_pipeline("your-name/your-foresight")`.
"""

from foresight_models import build_demo, load_pipeline

demo = build_demo(load_pipeline("tiny"))
if __name__ == "__main__":
    demo.launch()
