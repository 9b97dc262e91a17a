"""leverplus: a clean reference implementation of the Lever-Plus v3 system.

Learning to pick in-context demonstrations (ICDs) for a vision-language model: a pointer-network
selector trained by SFT, then by reward-weighted cross-entropy (RCE) on VLM-scored candidate
sequences, optionally followed by GRPO. torch is needed (the `train` extra).
"""

__version__ = "0.1.0"
