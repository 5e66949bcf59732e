// Command hello is the small main package the publish tests build into images: it prints
// the user it runs as and its arguments.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	fmt.Printf("hello uid=%d gid=%d args=%s\n", os.Getuid(), os.Getgid(), strings.Join(os.Args[1:], ","))
}
