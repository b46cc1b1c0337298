# Embedded default only: the workflow makes its own small pretrained causal LM (SentencePiece +
# XGLM tokenizer + XGLMForCausalLM), saved with save_pretrained, so the translation stage loads
# it exactly as it would load facebook/xglm-1.7B.

if not config["lm"]["pretrained"]:

    rule lm_pretrain:
        """Train the tokenizer and pretrain a small XGLM on the training-split text."""
        input:
            train=rules.prepare.output.train,
        output:
            directory(f"{DATA}/lm"),
        log:
            f"{LOGS}/lm_pretrain.log",
        benchmark:
            f"{BENCH}/lm_pretrain.tsv"
        conda:
            f"{ENVS}/torch.yaml"
        threads: job_threads()
        resources:
            **job_memory_and_time("lm_pretrain"),
            gpu=gpu_request("lm_pretrain"),
        params:
            vocab_size=config["lm"]["vocab_size"],
            config=config["lm"]["config"],
            pretrain=config["lm"]["pretrain"],
        script:
            "../scripts/stage.py"
