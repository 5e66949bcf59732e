package contract

// Stream names and subject prefixes of the task path.
const (
	TasksStream   = "AGENT_TASKS"
	ResultsStream = "AGENT_RESULTS"
	StatusStream  = "AGENT_STATUS"
	TasksPrefix   = "agent.tasks."
	ResultsPrefix = "agent.results."
	StatusPrefix  = "agent.status."
)

// TaskSubject is the subject a worker's tasks are published on.
func TaskSubject(worker string) string { return TasksPrefix + worker }

// ResultSubject is the subject of a task's final result.
func ResultSubject(taskID string) string { return ResultsPrefix + taskID }

// StatusSubject is the subject of a task's status events.
func StatusSubject(taskID string) string { return StatusPrefix + taskID }
