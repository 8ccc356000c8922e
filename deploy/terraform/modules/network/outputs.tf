output "vpc_id" {
  description = "The VPC's id."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "The VPC's IPv4 block."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets, one per zone, in the order of var.azs (the ALB)."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets, one per zone, in the order of var.azs (tasks, data stores, NATS)."
  value       = aws_subnet.private[*].id
}

output "private_subnet_cidrs" {
  description = "The private subnets' IPv4 blocks, in the order of var.azs."
  value       = aws_subnet.private[*].cidr_block
}

output "nat_public_ips" {
  description = "The NAT gateways' public addresses: what the payment provider and webhook receivers see FinSys connect from."
  value       = aws_eip.nat[*].public_ip
}
