"""What people read: `hni show`, explanations (VRX eq. 5-6), pictures and the self-contained HTML report."""
