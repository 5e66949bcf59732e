// Package demo is a fixture for the action.yml checker.
package demo

// Run reads inputs and writes outputs by name.
func Run() {
	read("good")
	read("forgotten")
	write("digest")
}

func read(string)  {}
func write(string) {}
