DROP TABLE project_limits;
