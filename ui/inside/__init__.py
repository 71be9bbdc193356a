"""The Inside MAML page's views: numbers (engine calls), charts, sentences, names; omniglot for its Omniglot part."""
