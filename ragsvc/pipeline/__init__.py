"""From a question to an answer: analyse, choose the route, answer, and trace every step."""
