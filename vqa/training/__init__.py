"""Training: the LightningModule, the callbacks and checkpoint handling the CLI installs, the non-finite loss
guard and the random state saved with checkpoints."""
