"""The text sentiment task: IMDB movie reviews, negative or positive."""
