// Package actionyml is the model of an action's metadata file (action.yml) that the tests of
// the actions and workflows read: its inputs, outputs and composite steps.
package actionyml

import (
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// Action is an action.yml.
type Action struct {
	Name        string            `yaml:"name"`
	Description string            `yaml:"description"`
	Branding    map[string]string `yaml:"branding"`
	Inputs      map[string]Input  `yaml:"inputs"`
	Outputs     map[string]Output `yaml:"outputs"`
	Runs        struct {
		Using string `yaml:"using"`
		Steps []Step `yaml:"steps"`
	} `yaml:"runs"`
}

// Input is one of an action's inputs.
type Input struct {
	Description string  `yaml:"description"`
	Required    bool    `yaml:"required"`
	Default     *string `yaml:"default"`
}

// Output is one of a composite action's outputs.
type Output struct {
	Description string `yaml:"description"`
	Value       string `yaml:"value"`
}

// Step is one step of a composite action.
type Step struct {
	ID               string            `yaml:"id"`
	Name             string            `yaml:"name"`
	If               string            `yaml:"if"`
	Shell            string            `yaml:"shell"`
	WorkingDirectory string            `yaml:"working-directory"`
	Env              map[string]string `yaml:"env"`
	Run              string            `yaml:"run"`
	Uses             string            `yaml:"uses"`
	With             map[string]string `yaml:"with"`
	// Node is the step as written, every key included.
	Node yaml.Node `yaml:"-"`
}

// UnmarshalYAML decodes the step and keeps it as written in Node.
func (s *Step) UnmarshalYAML(n *yaml.Node) error {
	type plain Step
	if err := n.Decode((*plain)(s)); err != nil {
		return err
	}
	s.Node = *n
	return nil
}

// Load reads and parses the action.yml at path.
func Load(path string) (Action, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Action{}, err
	}
	var a Action
	if err := yaml.Unmarshal(raw, &a); err != nil {
		return Action{}, fmt.Errorf("parsing %s: %w", path, err)
	}
	return a, nil
}
