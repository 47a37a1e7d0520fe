"""Cold-start supervised fine-tuning (R1 stage 1), on TRL's SFTTrainer."""
