"""Storage: all the SQL of the project, in one store per area behind `repository.Repository`."""
