package testnode

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// environment builds a container's environment as the kubelet does: envFrom, then env
// (literal values with $(VAR) left as written, secret and config map keys, and the
// pod's own fields). A missing required Secret, ConfigMap or key is an error worded as
// the kubelet's CreateContainerConfigError message.
func (p *pod) environment(ctx context.Context, c corev1.Container) ([]string, error) {
	var env []string
	ns := p.obj.Namespace
	for _, from := range c.EnvFrom {
		switch {
		case from.SecretRef != nil:
			s, err := p.n.Client.CoreV1().Secrets(ns).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && from.SecretRef.Optional != nil && *from.SecretRef.Optional {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", from.SecretRef.Name)
			}
			for k, v := range s.Data {
				env = append(env, from.Prefix+k+"="+string(v))
			}
		case from.ConfigMapRef != nil:
			cm, err := p.n.Client.CoreV1().ConfigMaps(ns).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", from.ConfigMapRef.Name)
			}
			for k, v := range cm.Data {
				env = append(env, from.Prefix+k+"="+v)
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env = append(env, e.Name+"="+p.rewrite(c, e.Value))
			continue
		}
		v, ok, err := p.valueFrom(ctx, e.ValueFrom)
		if err != nil {
			return nil, err
		}
		if ok {
			env = append(env, e.Name+"="+v)
		}
	}
	return env, nil
}

func (p *pod) valueFrom(ctx context.Context, src *corev1.EnvVarSource) (string, bool, error) {
	ns := p.obj.Namespace
	optional := func(b *bool) bool { return b != nil && *b }
	switch {
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		s, err := p.n.Client.CoreV1().Secrets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("secret %q not found", ref.Name)
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, ns, ref.Name)
		}
		return string(v), true, nil
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		cm, err := p.n.Client.CoreV1().ConfigMaps(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("configmap %q not found", ref.Name)
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, ns, ref.Name)
		}
		return v, true, nil
	case src.FieldRef != nil:
		switch src.FieldRef.FieldPath {
		case "metadata.name":
			return p.obj.Name, true, nil
		case "metadata.namespace":
			return ns, true, nil
		case "metadata.uid":
			return string(p.obj.UID), true, nil
		case "spec.nodeName":
			return p.n.Name, true, nil
		case "spec.serviceAccountName":
			return p.obj.Spec.ServiceAccountName, true, nil
		case "status.podIP":
			return p.ip, true, nil
		case "status.hostIP":
			return "127.0.0.1", true, nil
		}
		return "", false, fmt.Errorf("unsupported fieldRef %s", src.FieldRef.FieldPath)
	}
	return "", false, nil
}
