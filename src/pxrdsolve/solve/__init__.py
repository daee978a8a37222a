"""Structure solution: candidate sources (model, prototype library, user), refinement, ranking."""
