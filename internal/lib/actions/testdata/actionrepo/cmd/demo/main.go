// Command demo is a fixture for the action.yml checker.
package main

import "example.com/demo/internal/demo"

func main() { demo.Run() }
