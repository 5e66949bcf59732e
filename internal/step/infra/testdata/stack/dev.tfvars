env_name   = "ci"
node_count = 3
