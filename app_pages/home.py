"""Home: what meta-learning and MAML are, the two update equations, and what each page shows."""

from __future__ import annotations

import streamlit as st

from ui import common, scene
from ui.lesson import lesson_bar
from ui.page_state import HomeState

# Home's scene is only the projector switch: a link with ?big=1 opens it in large fonts; another page's scene
# (its task, points) is dropped from the address bar.
restored = scene.restore([scene.LARGE_FONTS], HomeState.of(st.session_state))
lesson_bar()  # while a lesson is presented: where it is, PageDown / PageUp (ui/lesson.py)
with st.sidebar:
    large = common.large_fonts_toggle()
common.apply_theme(large)
restored.show()
scene.publish([scene.LARGE_FONTS])

st.title("MAML, visible")
st.markdown(
    "**Meta-learning** is learning how to learn: instead of training one model for one task, we train on many "
    "related tasks so that a *new* task can be learned from a handful of examples. **MAML** (Model-Agnostic "
    "Meta-Learning, Finn, Abbeel & Levine, ICML 2017) does this with nothing but gradient descent: it searches for "
    "initial weights θ from which *one or a few gradient steps* on a few examples of any task give a good model "
    "for that task. It does not learn a good answer; it learns a good *starting point*."
)

st.subheader("Start here")
st.markdown("New to MAML? Open **Sinusoid regression** first: one task, a few points, and every method adapting "
            "step by step; **Inside MAML** shows why it works. Then draw characters on **Omniglot few-shot**, race "
            "the networks on **Human vs MAML**, and train your own on **Meta-training**.")
pages = [
    ("app_pages/sinusoid.py", ":material/ssid_chart:", "Sinusoid regression",
     "Pick a sine wave, give it a few points (sample, click, type or upload a CSV), and watch MAML, FO-MAML, "
     "Reptile, a pretrained baseline and a random network adapt: step through (or play) the predictions, the loss "
     "after every step, and the numbers.",
     list(common.SINUSOID_CHECKPOINTS.values())),
    ("app_pages/inside.py", ":material/insights:", "Inside MAML",
     "Why does a meta-learned start adapt so fast? Each task's loss on a plane through the weights, its inner "
     "steps as arrows (click to move the start), where MAML, FO-MAML and Reptile would move it, and what "
     "adaptation changes in each layer.",
     list(common.SINUSOID_CHECKPOINTS.values())),
    ("app_pages/omniglot.py", ":material/draw:", "Omniglot few-shot",
     "Classify handwritten characters from alphabets the network never saw, after seeing one example of each. "
     "Draw your own characters and see how each method's prediction changes with each inner step.",
     list(common.OMNIGLOT_CHECKPOINTS.values())),
    ("app_pages/challenge.py", ":material/sports_esports:", "Human vs MAML",
     "One drawing of each of N characters, then one more: which is it? Answer a few trials yourself (or with a "
     "show of hands) and see your score beside MAML's, FO-MAML's and transfer learning's on the same trials.",
     list(common.OMNIGLOT_CHECKPOINTS.values())),
    ("app_pages/meta_training.py", ":material/model_training:", "Meta-training, live",
     "Train MAML, FO-MAML and Reptile yourself, in the browser: live meta-loss curves, iterations per second, and "
     "snapshots of the initialisation *becoming* good at adapting. Use your run on the Sinusoid page.",
     []),
    ("app_pages/lesson.py", ":material/co_present:", "Lesson",
     "For lecturers: a deck of these pages' scenes, each with an optional question the audience answers first, "
     "saved as a small file and presented with a clicker (PageDown / PageUp).",
     []),
]
for row in range(0, len(pages), 3):  # three cards a row: six side by side would be slivers on a laptop
    cols = st.columns(3, gap="medium")
    for col, (path, icon, title, text, needs) in zip(cols, pages[row:row + 3]):
        with col, st.container(border=True):  # no fixed height: projector-size text must never be cut off
            st.markdown(f"### {icon} {title}")
            st.markdown(text)
            if needs:
                have = sum((common.ASSETS / name).is_file() for name in needs)
                st.caption(f"Trained weights available: {have} of {len(needs)}"
                           + ("" if have == len(needs) else " (the page shows what exists)"))
            st.page_link(path, label=f"Open {title}", icon=":material/arrow_forward:")

st.subheader("Two updates, nested")
left, right = st.columns(2, gap="large")
with left:
    st.markdown("**Inner update** (adapt to task 𝒯ᵢ from its support set, α = inner learning rate):")
    st.latex(r"\theta_i' \;=\; \theta \;-\; \alpha\,\nabla_\theta\,\mathcal{L}_{\mathcal{T}_i}^{\text{support}}"
             r"\big(f_\theta\big)")
    st.caption("Run at test time too: this is what you watch on the Sinusoid and Omniglot pages, step by step.")
with right:
    st.markdown("**Outer (meta) update** over a batch of tasks (β = meta learning rate):")
    st.latex(r"\theta \;\leftarrow\; \theta \;-\; \beta\,\nabla_\theta \sum_{\mathcal{T}_i}"
             r"\mathcal{L}_{\mathcal{T}_i}^{\text{query}}\big(f_{\theta_i'}\big)")
    st.caption("Only during meta-training: the query loss *after* adaptation decides how θ moves.")
st.markdown(
    "The outer gradient flows *through* the inner step, so it contains second derivatives "
    r"(∂θ′/∂θ = I − α∇²L). **First-order MAML (FO-MAML)** drops them and uses the gradient at the adapted "
    "weights as if θ′ did not depend on θ:"
)
st.latex(r"\text{FO-MAML:}\quad \nabla_\theta \mathcal{L}^{\text{query}}(f_{\theta_i'}) \;\approx\; "
         r"\nabla_{\theta'} \mathcal{L}^{\text{query}}(f_{\theta'})\big|_{\theta' = \theta_i'}")
st.caption("Cheaper and, in the paper, almost as good. Every page shows MAML and FO-MAML side by side.")

st.divider()
st.caption("Reference: C. Finn, P. Abbeel, S. Levine. *Model-Agnostic Meta-Learning for Fast Adaptation of Deep "
           "Networks.* ICML 2017. The engine is `maml_core` (PyTorch, torch.func); every number on these pages is "
           "computed live from the shipped checkpoints or from your own runs.")
