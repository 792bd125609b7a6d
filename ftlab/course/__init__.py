"""What notebooks use around the lessons: claims in print, plots, widgets, quizzes, exercises."""
