"""A user-written reward term: prefer short answers *among correct ones*.

Any function works as a term; it declares the inputs it needs by parameter name (see
``reward_fns.registry.TERM_INPUTS``): here the 0/1 accuracy and the response's token count.
Use it in stage 2 without touching the project's code:

    bash recipes/revisual_stage2.sh reward.terms=null \
        'reward.terms={accuracy:0.8,examples/custom_reward/my_reward.py:brevity:0.2}'
"""

from reward_fns import register_reward

SHORT_ENOUGH = 512  # tokens; a correct answer this short gets the full bonus


@register_reward("brevity")
def brevity(acc: float, response_length: int) -> float:
    """1.0 for a correct answer of at most SHORT_ENOUGH tokens, decaying as 512 / length beyond
    that; 0.0 for a wrong answer, so the term never pays for being short and wrong."""
    if acc <= 0:
        return 0.0
    return min(1.0, SHORT_ENOUGH / max(1, response_length))
